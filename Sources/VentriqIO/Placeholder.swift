// VentriqIO
