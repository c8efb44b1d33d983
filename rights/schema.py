"""drf-spectacular: document the API-key bearer authentication in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "rights.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "dpl_<prefix>.<secret>",
            "description": "An API key from `create_party` or `POST /api/v1/keys` (shown once).",
        }
