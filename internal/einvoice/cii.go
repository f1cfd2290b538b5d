package einvoice

import "encoding/xml"

// The CII elements the documents use, in the order of the Factur-X schemas' sequences. Names
// carry their namespace prefix (rsm, ram, udt, qdt), declared once on the root element.

type crossIndustryInvoice struct {
	XMLName xml.Name `xml:"rsm:CrossIndustryInvoice"`
	RSM     string   `xml:"xmlns:rsm,attr"`
	RAM     string   `xml:"xmlns:ram,attr"`
	QDT     string   `xml:"xmlns:qdt,attr"`
	UDT     string   `xml:"xmlns:udt,attr"`

	Context     documentContext   `xml:"rsm:ExchangedDocumentContext"`
	Document    exchangedDocument `xml:"rsm:ExchangedDocument"`
	Transaction transaction       `xml:"rsm:SupplyChainTradeTransaction"`
}

type documentContext struct {
	Guideline string `xml:"ram:GuidelineSpecifiedDocumentContextParameter>ram:ID"` // BT-24
}

type exchangedDocument struct {
	ID            string   `xml:"ram:ID"`                               // BT-1
	TypeCode      string   `xml:"ram:TypeCode"`                         // BT-3
	IssueDateTime dateTime `xml:"ram:IssueDateTime>udt:DateTimeString"` // BT-2
	Notes         []note   `xml:"ram:IncludedNote"`                     // BG-1
}

type note struct {
	Content string `xml:"ram:Content"` // BT-22
}

// dateTime is a DateTimeString's content: a date in the given format code.
type dateTime struct {
	Format string `xml:"format,attr"`
	Value  string `xml:",chardata"`
}

type transaction struct {
	Lines      []lineItem       `xml:"ram:IncludedSupplyChainTradeLineItem"` // BG-25
	Agreement  headerAgreement  `xml:"ram:ApplicableHeaderTradeAgreement"`
	Delivery   struct{}         `xml:"ram:ApplicableHeaderTradeDelivery"` // required, empty: no delivery data
	Settlement headerSettlement `xml:"ram:ApplicableHeaderTradeSettlement"`
}

type lineItem struct {
	LineID     string         `xml:"ram:AssociatedDocumentLineDocument>ram:LineID"`                                  // BT-126
	Name       string         `xml:"ram:SpecifiedTradeProduct>ram:Name"`                                             // BT-153
	NetPrice   string         `xml:"ram:SpecifiedLineTradeAgreement>ram:NetPriceProductTradePrice>ram:ChargeAmount"` // BT-146
	Quantity   quantity       `xml:"ram:SpecifiedLineTradeDelivery>ram:BilledQuantity"`                              // BT-129, BT-130
	Settlement lineSettlement `xml:"ram:SpecifiedLineTradeSettlement"`
}

type quantity struct {
	Unit  string `xml:"unitCode,attr"`
	Value string `xml:",chardata"`
}

type lineSettlement struct {
	Tax   tradeTax `xml:"ram:ApplicableTradeTax"`                                                // BG-30
	Total string   `xml:"ram:SpecifiedTradeSettlementLineMonetarySummation>ram:LineTotalAmount"` // BT-131
}

type headerAgreement struct {
	Seller     tradeParty `xml:"ram:SellerTradeParty"`                                  // BG-4
	Buyer      tradeParty `xml:"ram:BuyerTradeParty"`                                   // BG-7
	BuyerOrder string     `xml:"ram:BuyerOrderReferencedDocument>ram:IssuerAssignedID"` // BT-13
}

type tradeParty struct {
	ID   string `xml:"ram:ID"`   // BT-29, BT-46
	Name string `xml:"ram:Name"` // BT-27, BT-44
}

type headerSettlement struct {
	Currency  string              `xml:"ram:InvoiceCurrencyCode"`                             // BT-5
	Tax       tradeTax            `xml:"ram:ApplicableTradeTax"`                              // BG-23
	Totals    monetarySummation   `xml:"ram:SpecifiedTradeSettlementHeaderMonetarySummation"` // BG-22
	Preceding *referencedDocument `xml:"ram:InvoiceReferencedDocument"`                       // BG-3, credit notes only
}

// tradeTax is a VAT breakdown (header, BG-23) or a line's VAT category (BG-30); the line leaves
// the amounts and the exemption empty.
type tradeTax struct {
	CalculatedAmount    string `xml:"ram:CalculatedAmount,omitempty"` // BT-117
	TypeCode            string `xml:"ram:TypeCode"`
	ExemptionReason     string `xml:"ram:ExemptionReason,omitempty"`     // BT-120
	BasisAmount         string `xml:"ram:BasisAmount,omitempty"`         // BT-116
	CategoryCode        string `xml:"ram:CategoryCode"`                  // BT-118, BT-151
	ExemptionReasonCode string `xml:"ram:ExemptionReasonCode,omitempty"` // BT-121
}

type monetarySummation struct {
	LineTotal     string         `xml:"ram:LineTotalAmount"`     // BT-106
	TaxBasisTotal string         `xml:"ram:TaxBasisTotalAmount"` // BT-109
	TaxTotal      currencyAmount `xml:"ram:TaxTotalAmount"`      // BT-110
	GrandTotal    string         `xml:"ram:GrandTotalAmount"`    // BT-112
	DuePayable    string         `xml:"ram:DuePayableAmount"`    // BT-115
}

// currencyAmount is an amount that names its currency, as the total VAT amount must.
type currencyAmount struct {
	Currency string `xml:"currencyID,attr"`
	Value    string `xml:",chardata"`
}

type referencedDocument struct {
	IssuerAssignedID string   `xml:"ram:IssuerAssignedID"`                          // BT-25
	IssueDate        dateTime `xml:"ram:FormattedIssueDateTime>qdt:DateTimeString"` // BT-26
}
