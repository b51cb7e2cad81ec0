"""The public web view (issue 17): pages anyone can read, checks in the reader's browser."""
