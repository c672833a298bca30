"""The office's inbox served over ePUAP's WS-Pull SOAP interface, for document systems (EZD) that pull from ePUAP."""
