"""E-mail to invitees: the invitation with a calendar file, changes and cancellations."""
