"""From the model's waypoints to a command: the controllers, one policy step, recovery (sweep, back-up), the
supervisor that decides which acts, and the blind odometry replay baseline."""
