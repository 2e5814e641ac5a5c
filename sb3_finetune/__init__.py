"""Fine-tune pretrained PyTorch networks with Stable-Baselines3's off-policy algorithms (DDPG, TD3, SAC)."""
