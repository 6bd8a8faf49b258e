"""The relying-party registry: client metadata, release policies, consent, pairwise subjects."""
