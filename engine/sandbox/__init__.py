"""Faithful local stand-ins for the national services we cannot reach from a test bench:
the coordination platform (FHIR R4 server) and the DMP (XDS.b ITI-41 endpoint).

They are used by the test suite and by ``passerelle sandbox`` so hospital teams can
rehearse routes before touching production. They parse what they receive, check it
against the official schemas and rules, and refuse what a real server refuses.
"""
