"""CloudTrail records → Elastic Common Schema documents, with offline geolocation."""
