"""``manage.py create_account --email E --password P --business NAME --role ROLE``."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role
from accounts.services import account_create


class Command(BaseCommand):
    help = "Create (or add to) a business and its member account."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--business", required=True)
        parser.add_argument("--role", default=Role.ADMIN, choices=Role.values)

    def handle(self, *args, email, password, business, role, **options):
        try:
            membership = account_create(email=email, password=password, business_name=business, role=role)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(
            f"{membership.user.email} is {membership.role} of business "
            f"{membership.business.name!r} (id {membership.business_id})"
        )
