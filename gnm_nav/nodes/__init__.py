"""rclpy node shells: each translates topics and parameters to and from the ROS-free core."""
