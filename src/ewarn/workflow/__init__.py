"""The alert workflow (issue 14): states and transitions, deadlines with reminders and escalation, suppression."""
