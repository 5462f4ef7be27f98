"""The knowledge base the FAQ agent answers from."""


from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models

from ._base import TimeStampedModel


class KnowledgeArticle(TimeStampedModel):
    """A fact the FAQ agent may answer from; searched with PostgreSQL full-text search."""

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    body = models.TextField()
    category = models.CharField(max_length=50, blank=True)
    keywords = models.CharField(max_length=500, blank=True, help_text="Extra search terms, space separated.")
    is_published = models.BooleanField(default=True)
    search_vector = models.GeneratedField(
        expression=SearchVector("title", weight="A", config="english")
        + SearchVector("keywords", weight="A", config="english")
        + SearchVector("body", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["title"]
        indexes = [GinIndex(fields=["search_vector"], name="kb_search_vector_idx")]

    def __str__(self) -> str:
        return self.title


class ProductName(TimeStampedModel):
    """A product or plan customers name in inquiries, with the other names they use for it;
    the entity extractor (orchestration/analysis/entities.py) reports it by `name`."""

    name = models.CharField(max_length=100, unique=True)
    aliases = models.TextField(blank=True, help_text="Other names customers use, one per line or comma-separated.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def alias_list(self) -> list[str]:
        """The aliases, trimmed, without blanks, duplicates or the name itself."""
        seen = {self.name.strip().lower()}
        out = []
        for alias in self.aliases.replace(",", "\n").splitlines():
            alias = " ".join(alias.split())
            if alias and alias.lower() not in seen:
                seen.add(alias.lower())
                out.append(alias)
        return out
