"""OCPP 2.1 ad hoc payment (block C, payment terminals and web payment):
NotifySettlement, NotifyWebPaymentStarted, VatNumberValidation."""
