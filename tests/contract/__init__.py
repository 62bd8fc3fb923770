"""The contract suite: the same assertions for every provider (backends/ holds one hook per
provider), the engine against a service without etags, the Synapse wire against its schemas."""
