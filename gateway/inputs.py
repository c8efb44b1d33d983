"""What a brand asks for: the one value a generation request is carried in.

The API builds it from validated input; the policy engine, the generation row,
the ledger hold and the C2PA licence each take what they need from it, so the
request's fields are listed here once.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.models import Generation
from rights import policy


@dataclass(frozen=True, slots=True)
class GenerationInput:
    contract_id: str
    script: str
    platform: str
    category: str
    language: str
    territory: str
    profile: str
    captions: bool

    @classmethod
    def from_generation(cls, generation: Generation) -> GenerationInput:
        """The request a stored generation was made with."""
        return cls(contract_id=generation.contract_id, script=generation.script, platform=generation.platform,
                   category=generation.category, language=generation.language, territory=generation.territory,
                   profile=generation.profile, captions=generation.captions)

    def policy_request(self, *, brand_id: str) -> policy.GenerationRequest:
        """What the policy engine judges: this use, asked by ``brand_id``."""
        return policy.GenerationRequest(brand_id=brand_id, script=self.script, platform=self.platform,
                                        category=self.category, language=self.language, territory=self.territory)

    def generation_fields(self) -> dict:
        """The ``Generation`` columns this request fills (the contract is passed as the row itself)."""
        return {"script": self.script, **self.usage(), "profile": self.profile, "captions": self.captions}

    def usage(self) -> dict[str, str]:
        """Where and how the likeness is used: what the ledger hold and the C2PA licence record."""
        return {"platform": self.platform, "category": self.category, "language": self.language,
                "territory": self.territory}
