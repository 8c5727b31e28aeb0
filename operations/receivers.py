"""What operations does when stations reports something (stations/signals.py).

Receivers are sent robustly (stations.signals.announce): one that fails is logged and the
charger still gets its answer; the periodic sweep (operations/tasks.py) re-derives what a
lost event would have done.
"""
