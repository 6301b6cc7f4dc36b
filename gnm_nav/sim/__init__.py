"""ROS-free simulator: world specs (world_spec, world_gen, worlds), MJCF/SDF export (mjcf, sdf), rendering
(render, textures), occupancy (occupancy, map_render), the robot (env), the expert driver (expert, rollout)
and the data tools built on them (collect, bag_recorder)."""
