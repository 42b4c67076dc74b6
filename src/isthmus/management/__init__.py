"""Management plane (BFIA part 1): node contracts now; datasets, projects, permits later.

Services here hold the rules (who may move a contract from which state to which), the
store holds the state, and the peer client carries the messages. The apps in
``isthmus.node`` only translate HTTP to these calls.
"""
