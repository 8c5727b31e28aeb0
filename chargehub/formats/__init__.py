"""Date and number formats that differ from Django's for a language (FORMAT_MODULE_PATH).

Django's English prints dates in US month/day order ("12/06/2026 6:39 p.m."), which a
driver in Europe misreads; ours print "6 Dec 2026 18:39". Anything not set here is
Django's own (Swedish needs nothing: ISO dates, a decimal comma, a space per thousand).
"""
