"""Networking: our own Toxiproxy client for client links (partitions between brokers come with faults)."""
