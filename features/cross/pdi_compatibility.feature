Feature: A Cloud-PDI file set is a PDI file set
  What travels inside the envelope is what a CD or DVD would hold: a hospital can burn it, and
  any PDI reader can read it. The checks here use independent media tools, not the harness's
  own judgement alone, and give the receiver file sets it did not make itself.

  @actor:sender @CPDI-CONT-01 @PDI-DIR-02 @option:core @required
  Scenario: An independent media checker accepts the sender's file set
    Given a referral study of 3 CT images for patient "山田 太郎"
    When the sending hospital sends the study to the receiving hospital
    Then an independent DICOM media checker accepts the file set in the envelope

  @actor:sender @CPDI-CONT-01 @PDI-CONS-01 @option:core @required
  Scenario Outline: A patient named <name> keeps the name across the file set
    Given a referral study of 3 CT images for patient "<name>"
    When the sending hospital sends the study to the receiving hospital
    Then the file set in the envelope meets PDI-CONS-01
    And the file set in the envelope is a PDI file set
    And every image in the file set names the patient "<name>"

    Examples: how Japanese names are written
      | name        |
      | 山田 太郎   |
      | ﾔﾏﾀﾞ ﾀﾛｳ    |
      | 髙橋 はなこ |
      | YAMADA TARO |

  @actor:receiver @CPDI-CONT-01 @CPDI-RCV-01 @option:core @required
  Scenario Outline: The receiver imports a file set made by <maker>
    Given the receiving hospital knows patient "山田 太郎" as local patient ID "R0001234"
    And a referral study of 3 CT images for patient "山田 太郎"
    And the file set the sending hospital makes is made by <maker>
    When the sending hospital sends the study to the receiving hospital
    Then the receiving PACS holds 3 images of the study

    Examples: file set makers
      | maker                           |
      | an independent DICOM media tool |
      | the reference sender            |
