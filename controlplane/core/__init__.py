"""The domain core: pure rules over plain data (rating, routing, credit, authorization, numbers, money,
rate-deck CSV, the call record). No I/O, no settings, no clock but one passed in; nothing here imports
anything outside the standard library and this package (tests/test_layers.py checks it)."""
