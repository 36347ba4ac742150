// Placeholder so the VentriqProfilesTests target has a source file; another helper fills this target.
