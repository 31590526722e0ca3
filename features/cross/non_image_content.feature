Feature: Documents travel with or without images
  A referral is more than images: a referral letter, lab results, a prescription or a FHIR
  document may travel in the same transfer, and a transfer need not hold any image at all.
  Documents are other content of the file set, outside the DICOM tree, with 8.3 names.

  @actor:sender @CPDI-CONT-02 @PDI-NAME-04 @option:non-image-content @required
  Scenario Outline: The sender sends <document> with the images
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the referral also carries <document>
    When the sending hospital sends the study to the receiving hospital
    Then the file set in the envelope holds <document> unchanged
    And the file set in the envelope meets PDI-NAME-04

    Examples: documents of a referral
      | document                   |
      | "a referral letter"        |
      | "a lab result"             |
      | "a prescription"           |
      | "a FHIR referral document" |

  @actor:sender @CPDI-CONT-02 @PDI-STRUCT-01 @option:non-image-content @required
  Scenario: The sender sends a referral with no images
    Given a referral of "a referral letter" with no images, for patient "山田 太郎"
    When the sending hospital sends the study to the receiving hospital
    Then the file set in the envelope holds "a referral letter" unchanged
    And the file set in the envelope meets PDI-STRUCT-01

  @actor:receiver @CPDI-CONT-02 @option:non-image-content @required
  Scenario Outline: The receiver hands <document> to the receiving hospital
    Given the receiving hospital knows patient "山田 太郎" as local patient ID "R0001234"
    And a referral study of 3 CT images for patient "山田 太郎"
    And the referral also carries <document>
    When the sending hospital sends the study to the receiving hospital
    Then the receiving hospital is given <document> unchanged
    And the receiving PACS holds 3 images of the study

    Examples: documents of a referral
      | document                   |
      | "a referral letter"        |
      | "a lab result"             |
      | "a prescription"           |
      | "a FHIR referral document" |

  @actor:receiver @CPDI-CONT-02 @option:non-image-content @required
  Scenario: The receiver accepts a referral with no images
    Given a referral of "a referral letter" with no images, for patient "山田 太郎"
    When the sending hospital sends the study to the receiving hospital
    Then the receiving hospital is given "a referral letter" unchanged
    And the receiving PACS holds no image of the study
