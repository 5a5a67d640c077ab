"""ping, arping, traceroute with scapy; diagnostics file collection."""
