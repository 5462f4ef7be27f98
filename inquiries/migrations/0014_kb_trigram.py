"""pg_trgm, for the knowledge-base search's spelling correction (inquiries/kb_search.py: the
similarity of a question's unknown word to the knowledge base's vocabulary). No trigram index:
the vocabulary is read with ts_stat per query, not from a table an index could serve."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('inquiries', '0013_productname'),
    ]

    operations = [
        TrigramExtension(),
    ]
