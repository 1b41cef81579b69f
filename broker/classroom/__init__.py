"""The classroom as a student lives it: screens a teacher locked, a teacher's messages, a raised hand.

Low in the package graph on purpose (it imports only models and errors): the tunnels drop a locked
person's input, the files refuse their uploads and the event stream tells their viewer, all from
here, while the teacher tools above decide who may lock whom.
"""
