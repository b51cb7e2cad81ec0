"""The web view's two languages: Indonesian (the default) and English.

Every phrase a page shows is looked up here by key, so a page never mixes
languages; numbers and times are written the reader's way (Indonesian groups
thousands with ".", English with ","). Times are shown in the place's own zone
(WIB, WITA, WIT: ledger.format.timezones).
"""

from __future__ import annotations

from datetime import UTC, datetime, timezone

from ledger.format.timezones import zone_for_region

__all__ = ["DEFAULT_LANG", "LANGS", "choose_lang", "fmt_int", "fmt_percent", "fmt_time", "t"]

LANGS = ("id", "en")
DEFAULT_LANG = "id"
LANG_COOKIE = "lang"

_TEXT: dict[str, tuple[str, str]] = {
    # key: (Indonesian, English)
    "site": ("Buku Besar Pilkada", "Pilkada Ledger"),
    "tagline": (
        "Catatan hasil pemungutan suara yang ditandatangani, dapat diperiksa siapa saja",
        "Signed election results that anyone can check",
    ),
    "skip": ("Langsung ke isi", "Skip to content"),
    "nav": ("Navigasi utama", "Main navigation"),
    "election": ("Pemilihan", "Election"),
    "contests": ("Pemilihan yang dipertandingkan", "Contests"),
    "contest": ("Pemilihan", "Contest"),
    "findings": ("Temuan", "Findings"),
    "search": ("Cari", "Search"),
    "search_label": (
        "Cari TPS, desa/kelurahan, kecamatan atau kabupaten/kota",
        "Search a TPS, village, kecamatan or regency/city",
    ),
    "search_placeholder": ("mis. 33.16.09.1016/007 atau Blora", "e.g. 33.16.09.1016/007 or Blora"),
    "search_results": ("Hasil pencarian", "Search results"),
    "no_results": ("Tidak ada yang cocok.", "Nothing matches."),
    "language": ("Bahasa", "Language"),
    "progress": ("Kemajuan", "Progress"),
    "sheets_of": ("{n} dari {m} lembar C.Hasil masuk", "{n} of {m} C.Hasil sheets in"),
    "findings_count": ("{n} temuan", "{n} findings"),
    "checkpoint": ("Checkpoint terakhir", "Latest checkpoint"),
    "checkpoint_size": ("Ukuran log: {n} peristiwa", "Log size: {n} events"),
    "checkpoint_root": ("Akar Merkle", "Merkle root"),
    "witnessed_by": ("Disaksikan oleh", "Witnessed by"),
    "witness_at": ("{name}, pada {time}", "{name}, at {time}"),
    "not_witnessed": (
        "Belum disaksikan oleh saksi yang diminta kebijakan kepercayaan.",
        "Not yet witnessed by the witnesses the trust policy requires.",
    ),
    "latest_witnessed": (
        "Checkpoint terakhir yang disaksikan: ukuran {n}",
        "Latest witnessed checkpoint: size {n}",
    ),
    "no_checkpoint": ("Belum ada checkpoint.", "No checkpoint yet."),
    "pair": ("Paslon", "Pair"),
    "votes": ("Suara", "Votes"),
    "share": ("Persentase", "Share"),
    "totals": ("Perolehan suara", "Vote totals"),
    "chart_label": ("Diagram perolehan suara: {desc}", "Chart of vote totals: {desc}"),
    "valid": ("Suara sah", "Valid votes"),
    "invalid": ("Suara tidak sah", "Invalid votes"),
    "voted": ("Pengguna hak pilih", "Voters who voted"),
    "region": ("Wilayah", "Region"),
    "drill": ("Rincian per wilayah", "By region"),
    "tps_list": ("TPS", "Polling stations (TPS)"),
    "recap": ("Rekapitulasi", "Recapitulation"),
    "recap_vs_sheets": (
        "Rekapitulasi di samping jumlah lembar C.Hasil",
        "The recapitulation beside the sum of its sheets",
    ),
    "sum_sheets": ("Jumlah lembar", "Sum of sheets"),
    "recap_stated": ("Angka rekap", "Recap says"),
    "recap_inputs": ("Jumlah masukan rekap", "Sum of the recap's inputs"),
    "difference": ("Selisih", "Difference"),
    "no_recap": (
        "Belum ada rekapitulasi untuk wilayah ini.",
        "No recapitulation for this region yet.",
    ),
    "recap_ok": ("sesuai", "matches"),
    "recap_differs": ("berbeda", "differs"),
    "objections": ("Keberatan", "Objections"),
    "open_objections": ("{n} keberatan belum dijawab", "{n} unanswered objections"),
    "no_objections": ("Tidak ada keberatan yang belum dijawab.", "No unanswered objections."),
    "recommendations": ("Rekomendasi Bawaslu", "Bawaslu recommendations"),
    "determination": ("Penetapan hasil", "Determination of the result"),
    "kolom_kosong": ("Kolom kosong", "Empty column (kolom kosong)"),
    "kolom_kosong_short": ("Kolom kosong", "Empty column"),
    "outcome_elected": ("Terpilih: {pair}", "Elected: {pair}"),
    "outcome_new_election": (
        "Pemilihan diulang: pasangan calon tunggal tidak memperoleh lebih dari 50% suara sah,"
        " kolom kosong menang (UU 10/2016 Pasal 54D)",
        "A new election: the single pair did not win more than 50% of the valid votes,"
        " the empty column (kolom kosong) won (Law 10/2016 Art. 54D)",
    ),
    "decree": ("Surat keputusan: {decree}; diumumkan {time}", "Decree: {decree}; announced {time}"),
    "determined_totals": ("Perolehan suara yang ditetapkan", "The determined vote totals"),
    "petition_deadline": (
        "Batas permohonan ke Mahkamah Konstitusi: {time}",
        "Deadline for a petition to the Constitutional Court: {time}",
    ),
    "determination_differs": (
        "Angka penetapan berbeda dengan rekapitulasi yang dirujuknya: {fields}",
        "The determined figures differ from the recapitulation it names: {fields}",
    ),
    "not_yet": ("Belum ada.", "None yet."),
    "tps": ("TPS", "TPS"),
    "tps_khusus": ("TPS Lokasi Khusus", "TPS Lokasi Khusus (special-location TPS)"),
    "village": ("Desa/Kelurahan", "Village"),
    "kecamatan": ("Kecamatan", "Kecamatan"),
    "kabkota": ("Kabupaten/Kota", "Regency/City"),
    "provinsi": ("Provinsi", "Province"),
    "desa": ("Desa/Kelurahan", "Village"),
    "not_counted": ("Belum ada C.Hasil.", "No C.Hasil yet."),
    "c_hasil": ("C.Hasil sebagaimana ditandatangani", "The C.Hasil as signed"),
    "field": ("Isian", "Field"),
    "value": ("Nilai", "Value"),
    "signed_by": ("Ditandatangani oleh", "Signed by"),
    "role": ("Peran", "Role"),
    "key": ("Kunci", "Key"),
    "time": ("Waktu", "Time"),
    "attestations": ("Kesaksian saksi dan PTPS", "Attestations of saksi and PTPS"),
    "agree": ("setuju", "agrees"),
    "object": ("keberatan", "objects"),
    "history": ("Riwayat", "History"),
    "superseded": ("digantikan", "superseded"),
    "effective": ("berlaku", "effective"),
    "corrected_because": ("dikoreksi: {reason}", "corrected: {reason}"),
    "changed": ("Yang berubah", "What changed"),
    "used_by_recap": ("Digunakan oleh rekapitulasi", "Used by the recapitulation"),
    "recap_used": ("dipakai", "used"),
    "recap_omitted": ("tidak dimasukkan", "left out"),
    "recap_stale": ("dipakai pada versi lama", "used at an older version"),
    "kind": ("Jenis", "Kind"),
    "all": ("semua", "all"),
    "filter": ("Saring", "Filter"),
    "events": ("Peristiwa", "Events"),
    "message": ("Keterangan", "Message"),
    "stream": ("Aliran", "Stream"),
    "no_findings": ("Tidak ada temuan.", "No findings."),
    "verification": ("Diperiksa di peramban Anda", "Checked in your browser"),
    "verify_pending": (
        "Pemeriksaan tanda tangan berjalan di peramban Anda…",
        "Your browser is checking the signatures…",
    ),
    "verify_noscript": (
        "Pemeriksaan di peramban memerlukan JavaScript. Tanpa itu, angka di atas adalah "
        "proyeksi server; periksa sendiri dengan `ledger verify-dossier`.",
        "The check in your browser needs JavaScript. Without it the figures above are the "
        "server's projection; check them yourself with `ledger verify-dossier`.",
    ),
    "not_proved": (
        "Yang tidak dibuktikan oleh \u201cterverifikasi\u201d",
        "What \u201cverified\u201d does not prove",
    ),
    "not_proved_1": (
        "bahwa tidak ada koreksi lain setelah checkpoint;",
        "that no later correction exists beyond the checkpoint;",
    ),
    "not_proved_2": (
        "bahwa kunci penandatangan tidak dicabut kemudian;",
        "that the signer's key was not revoked later;",
    ),
    "not_proved_3": (
        "bahwa semua TPS telah melapor, atau bahwa angka di kertas C.Hasil sama.",
        "that every TPS reported, or that the paper form says the same.",
    ),
    "trust_roots": ("Akar kepercayaan", "Trust roots"),
    "page_not_found": ("Halaman tidak ditemukan", "Page not found"),
    "home": ("Beranda", "Home"),
    "prev_event": ("peristiwa", "event"),
    "zone_note": ("Waktu dalam zona {zone}", "Times in {zone}"),
    # After the count (issue 15; format.md 5.6-5.8, 5.11-5.13)
    "refuse": ("menolak menandatangani", "refuses to sign"),
    "answered_by_correction": ("dijawab oleh koreksi", "answered by the correction"),
    "answered_by_decision": (
        "dijawab oleh keputusan rapat pleno",
        "answered by the plenary's decision",
    ),
    "not_answered": ("belum dijawab", "not answered"),
    "ruling_upheld": ("diterima", "upheld"),
    "ruling_dismissed": ("ditolak", "dismissed"),
    "kpps_count": ("hitungan KPPS", "the KPPS count"),
    "count_of_order": ("hitungan {action}", "the count of the {action}"),
    "superseded_by": ("digantikan oleh {what}", "superseded by {what}"),
    "the_correction": ("koreksi", "the correction"),
    "a_later_count": ("hitungan berikutnya", "a later count"),
    "form_version": ("formulir versi {n}", "form of version {n}"),
    "orders": ("Keputusan KPU setelah pemungutan suara", "KPU orders after the vote"),
    "no_orders": ("Tidak ada keputusan.", "No orders."),
    "action_revote": ("pemungutan suara ulang (PSU)", "re-vote (PSU)"),
    "action_delayed": ("pemungutan suara susulan", "delayed vote (susulan)"),
    "action_continued": ("pemungutan suara lanjutan", "continued vote (lanjutan)"),
    "action_recount": ("penghitungan suara ulang", "recount"),
    "basis": ("Dasar hukum", "Legal basis"),
    "reason": ("Alasan", "Reason"),
    "voting_day": ("Hari pemungutan suara", "Voting day"),
    "deadline": ("Batas waktu", "Deadline"),
    "ruling": ("Putusan Mahkamah Konstitusi", "Constitutional Court ruling"),
    "follows_recommendation": ("Menindaklanjuti rekomendasi", "Follows the recommendation"),
    "carried_out_by": ("Dilaksanakan dengan hitungan", "Carried out by the count"),
    "not_carried_out": ("Belum dilaksanakan.", "Not carried out yet."),
    "no_recommendations": ("Tidak ada rekomendasi.", "No recommendations."),
    "remedy_revote": ("pemungutan suara ulang", "a re-vote"),
    "remedy_recount": ("penghitungan suara ulang", "a recount"),
    "remedy_correct": ("pembetulan", "a correction"),
    "remedy_other": ("tindakan lain", "another remedy"),
    "recommends": ("merekomendasikan {remedy}", "recommends {remedy}"),
    "about": ("tentang", "about"),
    "followup_accepted": ("menerima", "accepts"),
    "followup_rejected": ("menolak", "rejects"),
    "no_followup": ("Belum ada tindak lanjut.", "No follow-up yet."),
    "below": (
        "Rekomendasi pada lembar dan rekapitulasi di bawahnya",
        "Recommendations on the sheets and recaps below",
    ),
    "orders_below": (
        "Keputusan pada lembar dan rekapitulasi di bawahnya",
        "Orders on the sheets and recaps below",
    ),
    "plenary": ("Di rapat pleno rekapitulasi", "At the recapitulation plenary"),
    "no_plenary": (
        "Tidak ada keberatan atau penolakan di rapat pleno.",
        "No objection or refusal at the plenary.",
    ),
    "decisions": ("Keputusan rapat pleno", "The plenary's decisions"),
    "decision_on": ("atas keberatan", "on the objection"),
    "admin_block": ("Data administrasi D.Hasil", "The D.Hasil's administrative block"),
    "admin_stated": ("Angka D.Hasil", "D.Hasil says"),
    "admin_below": ("Jumlah tingkat di bawahnya", "Sum of the level below"),
    "admin_tps": ("Jumlah TPS", "TPS summed"),
    "admin_none": (
        "Rekapitulasi ini tidak memuat data administrasi.",
        "This recapitulation carries no administrative block.",
    ),
    "admin_flags": ("Aturan D.Hasil yang dilanggar", "D.Hasil rules broken"),
}

# The signers' roles as the law names them (institutions: the same in both languages).
_ROLES: dict[str, str] = {
    "kpu-prov": "KPU Provinsi",
    "kpu-kab": "KPU Kabupaten/Kota",
    "ppk": "PPK",
    "kpps": "KPPS",
    "panwas": "Panwas",
    "ptps": "PTPS",
    "panwaslu-kec": "Panwaslu Kecamatan",
    "bawaslu-kab": "Bawaslu Kabupaten/Kota",
    "bawaslu-prov": "Bawaslu Provinsi",
    "paslon": "Paslon",
    "saksi": "Saksi",
}

_TALLY_FIELDS: dict[str, tuple[str, str]] = {
    "dpt_m": ("DPT laki-laki", "Registered (DPT), men"),
    "dpt_f": ("DPT perempuan", "Registered (DPT), women"),
    "dptb_m": ("DPTb laki-laki", "Transferred (DPTb), men"),
    "dptb_f": ("DPTb perempuan", "Transferred (DPTb), women"),
    "dpk_m": ("DPK laki-laki", "Additional (DPK), men"),
    "dpk_f": ("DPK perempuan", "Additional (DPK), women"),
    "voted_dpt_m": ("Pemilih DPT yang memilih, laki-laki", "DPT who voted, men"),
    "voted_dpt_f": ("Pemilih DPT yang memilih, perempuan", "DPT who voted, women"),
    "voted_dptb_m": ("Pemilih DPTb yang memilih, laki-laki", "DPTb who voted, men"),
    "voted_dptb_f": ("Pemilih DPTb yang memilih, perempuan", "DPTb who voted, women"),
    "voted_dpk_m": ("Pemilih DPK yang memilih, laki-laki", "DPK who voted, men"),
    "voted_dpk_f": ("Pemilih DPK yang memilih, perempuan", "DPK who voted, women"),
    "disabled_registered": (
        "Pemilih disabilitas terdaftar",
        "Voters with disabilities, registered",
    ),
    "disabled_voted": ("Pemilih disabilitas yang memilih", "Voters with disabilities who voted"),
    "ballots_received": ("Surat suara diterima", "Ballot papers received"),
    "ballots_damaged": ("Surat suara rusak", "Ballot papers damaged"),
    "ballots_unused": ("Surat suara tidak digunakan", "Ballot papers unused"),
    "ballots_used": ("Surat suara digunakan", "Ballot papers used"),
    "valid": ("Suara sah", "Valid votes"),
    "invalid": ("Suara tidak sah", "Invalid votes"),
    "photo_sha256": ("SHA-256 foto formulir", "SHA-256 of the form's photo"),
}


def t(lang: str, key: str, **values: object) -> str:
    """The phrase ``key`` in ``lang``, with ``values`` filled in (numbers already formatted)."""
    phrase = _TEXT.get(key) or _TALLY_FIELDS[key]
    text = phrase[1] if lang == "en" else phrase[0]
    return text.format(**values) if values else text


def tally_label(lang: str, field: str) -> str:
    return t(lang, field) if field in _TEXT else _TALLY_FIELDS[field][1 if lang == "en" else 0]


def role_name(role: str) -> str:
    """A signer's role as people know it (``kpu-kab``: KPU Kabupaten/Kota)."""
    return _ROLES.get(role, role)


def choose_lang(query: str | None, cookie: str | None) -> str:
    """``?lang=`` first, then the cookie, then Indonesian."""
    for candidate in (query, cookie):
        if candidate in LANGS:
            return candidate
    return DEFAULT_LANG


def fmt_int(lang: str, n: int) -> str:
    """``n`` with the reader's thousands separator (id: 1.234.567, en: 1,234,567)."""
    text = f"{n:,}"
    return text if lang == "en" else text.replace(",", ".")


def fmt_percent(lang: str, part: int, whole: int) -> str:
    if whole <= 0:
        return "-"
    text = f"{100 * part / whole:.2f}%"
    return text if lang == "en" else text.replace(".", ",")


def fmt_time(lang: str, unix: int, region: str) -> str:
    """A Unix time in the zone of ``region`` (WIB, WITA or WIT), named."""
    name, offset = zone_for_region(region)
    moment = datetime.fromtimestamp(unix, UTC).astimezone(timezone(offset))
    if lang == "en":
        return f"{moment:%d %b %Y, %H:%M} {name}"
    return f"{moment.day} {_BULAN[moment.month - 1]} {moment.year}, {moment:%H.%M} {name}"


_BULAN = (
    "Januari", "Februari", "Maret", "April", "Mei", "Juni",
    "Juli", "Agustus", "September", "Oktober", "November", "Desember",
)  # fmt: skip
