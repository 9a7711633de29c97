"""Reliability harnesses of crash torture (torture.py) and netdaemon fuzzing (fuzz.py).

Each is a library the engine tests run at a small size and a command ``make torture`` /
``make fuzz`` runs at full size.
"""
