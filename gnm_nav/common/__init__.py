"""What every part shares: errors, angles and poses, atomic writes, the package's file paths."""
