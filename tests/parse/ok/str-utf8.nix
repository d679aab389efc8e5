"héllo → 世界 🎉"
