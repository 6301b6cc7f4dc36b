"""Thin rclpy glue shared by the node shells: parameters, QoS, images, cmd_vel, diagnostics, lifecycle."""
