// VentriqEngine
