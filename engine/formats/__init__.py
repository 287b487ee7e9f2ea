"""Readers and writers for the message formats Passerelle handles."""
