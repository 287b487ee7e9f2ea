"""Protocol-independent intake decisions: what to store, and what to answer the sender."""
