Feature: AI support images are never mistaken for originals
  Images made by AI or CAD software (marks, measurements) travel with the study, but a reader
  must never take them for diagnostic originals. The sender keeps every sign that says so, the
  receiver keeps those signs on import and tells the hospital which images they are.

  @actor:sender @CPDI-SUPP-01 @CPDI-CONT-01 @PDI-CONS-01 @option:support-images @required
  Scenario: The sender keeps every sign that a support image is not an original
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the referral also carries "AI support images"
    When the sending hospital sends the study to the receiving hospital
    Then every AI support image in the file set is marked as derived and not for diagnosis
    And the file set in the envelope meets PDI-CONS-01
    And the file set in the envelope is a PDI file set

  @actor:receiver @CPDI-SUPP-01 @PDI-IMP-01 @option:support-images @required
  Scenario: The receiver keeps the signs and lists support images apart
    Given the receiving hospital knows patient "山田 太郎" as local patient ID "R0001234"
    And a referral study of 3 CT images for patient "山田 太郎"
    And the referral also carries "AI support images"
    When the sending hospital sends the study to the receiving hospital
    Then every AI support image in the receiving PACS is marked as derived and not for diagnosis
    And every image in the receiving PACS has patient ID "R0001234"
    And the receiving hospital is told "which images are AI support images"
