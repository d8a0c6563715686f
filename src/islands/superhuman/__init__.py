"""SuperHuman: tasks only a model that uses a computer can do, scored against the machine's limits."""
