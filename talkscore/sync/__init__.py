"""Audio-visual synchrony: the learned sync scorer (`network`, its inference in `scorer`, its
training in `training`) and the correlation offset diagnostic (`correlation`)."""
