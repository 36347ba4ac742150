// VentriqModel
