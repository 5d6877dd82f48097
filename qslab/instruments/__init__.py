"""Role interfaces, real drivers grouped by vendor, and the driver registry."""
