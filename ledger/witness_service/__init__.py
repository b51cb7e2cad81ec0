"""The witness as a network service (issue 14): c2sp.org/tlog-witness over HTTP."""
