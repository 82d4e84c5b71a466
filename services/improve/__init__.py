"""The improvement loop: feedback becomes training data, versions are promoted only when they
measure at least as well, and ``ragtune iterate`` runs it all (see README, "The improvement loop")."""
