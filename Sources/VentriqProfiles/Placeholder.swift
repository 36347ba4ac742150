// Placeholder so the VentriqProfiles target has a source file; another helper fills this target.
