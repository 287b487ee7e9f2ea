"""Built-in channels and destinations. Importing this package registers all of them."""

from __future__ import annotations

from channels import directory as directory
from channels import dmp as dmp
from channels import fhir as fhir
from channels import file as file
from channels import http as http
from channels import mllp as mllp
from channels import mssante as mssante
