"""Servers, channel fakes and probes shared by the tests; no tests here."""
