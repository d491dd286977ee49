"""controlplane: the domain core of a multi-tenant VoIP softswitch.

Modules at this level hold pure decisions (rating, routing, numbers, money) and the models;
adapters (ESL controller, Kamailio sync, web app, jobs) live in sub-packages.
"""
