"""Built-in channels and destinations. Importing this package registers all of them."""

from __future__ import annotations

from channels import fhir as fhir
from channels import file as file
from channels import mllp as mllp
