"""Customer information (2.0.1 N09/N10): CustomerInformation requests and
NotifyCustomerInformation stored; a driver's data cleared in the stations and in
Volta together."""
