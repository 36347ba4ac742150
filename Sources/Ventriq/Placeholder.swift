// Ventriq
