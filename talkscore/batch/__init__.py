"""Many videos: a local worker pool (`jobs`) or Ray (`ray_engine`) runs one job per video;
`scores` writes scores to a resumable CSV, `features` extracts into a feature cache, `compare`
tabulates methods against each other and `select` filters a scores CSV."""
